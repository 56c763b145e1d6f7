package patron

import (
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"
)

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func itoa(i int) string { return strconv.Itoa(i) }

// sqlArgs numbers query parameters as they are added.
type sqlArgs struct{ vals []any }

// add appends v and returns its placeholder.
func (a *sqlArgs) add(v any) string {
	a.vals = append(a.vals, v)
	return "$" + strconv.Itoa(len(a.vals))
}
