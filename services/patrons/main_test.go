package patrons_test

import (
	"testing"

	"github.com/patronfed/patronfed/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
