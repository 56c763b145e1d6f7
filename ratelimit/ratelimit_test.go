package ratelimit_test

import (
	"testing"
	"time"

	"github.com/patronfed/patronfed/clock"
	"github.com/patronfed/patronfed/ratelimit"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	l := ratelimit.New(5, time.Hour, clk)
	for i := range 5 {
		if ok, _ := l.Allow("10.0.0.1"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	ok, wait := l.Allow("10.0.0.1")
	if ok || wait != 12*time.Minute {
		t.Fatalf("6th request: %v, retry in %s; want refused, retry in 12m", ok, wait)
	}
	if ok, _ := l.Allow("10.0.0.2"); !ok {
		t.Fatal("another address is limited too")
	}
	clk.Advance(12 * time.Minute)
	if ok, _ := l.Allow("10.0.0.1"); !ok {
		t.Fatal("no token after the refill time")
	}
	if ok, _ := l.Allow("10.0.0.1"); ok {
		t.Fatal("two tokens after one refill time")
	}
	clk.Advance(2 * time.Hour)
	for i := range 5 {
		if ok, _ := l.Allow("10.0.0.1"); !ok {
			t.Fatalf("after a long pause, request %d refused", i+1)
		}
	}
}
