package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
)

// resetStatements clears pg_stat_statements.
func (h *harness) resetStatements() {
	conn, err := pgx.Connect(h.ctx, h.url)
	if err != nil {
		return
	}
	defer conn.Close(h.ctx)
	_, _ = conn.Exec(h.ctx, `SELECT pg_stat_statements_reset()`)
}

// dumpStatements writes the top statements by total time since the last
// reset to dir/name.statements.txt, per call of the measured RPC (calls
// divides the counts).
func (h *harness) dumpStatements(name string, calls int64) {
	conn, err := pgx.Connect(h.ctx, h.url)
	if err != nil {
		return
	}
	defer conn.Close(h.ctx)
	rows, err := conn.Query(h.ctx, `SELECT calls, total_exec_time, mean_exec_time, rows, left(regexp_replace(query, '\s+', ' ', 'g'), 160)
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 20`)
	if err != nil {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-10s %-12s %-10s %-8s %s\n", "calls/rpc", "total ms", "mean ms", "rows", "query")
	for rows.Next() {
		var n, r int64
		var total, mean float64
		var q string
		if err := rows.Scan(&n, &total, &mean, &r, &q); err != nil {
			return
		}
		fmt.Fprintf(&sb, "%-10.2f %-12.1f %-10.3f %-8d %s\n", float64(n)/float64(max(calls, 1)), total, mean, r, q)
	}
	_ = os.WriteFile(filepath.Join(h.f.dir, name+".statements.txt"), []byte(sb.String()), 0o644)
}
