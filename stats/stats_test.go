package stats

import "testing"

func TestCells(t *testing.T) {
	cases := []struct {
		n         int64
		threshold int
		want      Cell
	}{
		{4, 0, Cell{Suppressed: true}},
		{5, 0, Cell{Count: 5}},
		{1, 0, Cell{Suppressed: true}},
		{4, 3, Cell{Suppressed: true}}, // never below MinThreshold
		{9, 10, Cell{Suppressed: true}},
		{10, 10, Cell{Count: 10}},
	}
	for _, c := range cases {
		if got := cell(c.n, c.threshold); got != c.want {
			t.Errorf("cell(%d, %d) = %+v, want %+v", c.n, c.threshold, got, c.want)
		}
	}
	if Threshold(0) != MinThreshold || Threshold(2) != MinThreshold || Threshold(12) != 12 {
		t.Error("Threshold")
	}
}
