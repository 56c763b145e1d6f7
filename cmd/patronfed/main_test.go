package main

import (
	"testing"

	"github.com/patronfed/patronfed/pgtest"
)

// TestMain gives this package's tests a PostgreSQL server (package pgtest).
func TestMain(m *testing.M) { pgtest.Main(m) }
