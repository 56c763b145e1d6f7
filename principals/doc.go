// Package principals caches the account (or patron) row behind each
// authenticated call.
//
// The authentication interceptor loads the caller's row on every call so
// that disabling an account, changing its roles or archiving a patron
// applies to tokens already issued. Reading that row was one of the three
// statements of every patron read (docs/performance.md), so rows are cached
// and invalidated, never merely aged out:
//
//   - triggers on accounts and patrons (migration 00009) NOTIFY Channel with
//     the row's id whenever a column the principal is built from changes, or
//     the row is deleted; Run LISTENs and drops the entry;
//   - the replica that makes the change (through the API, or in its
//     scheduled retention run) invalidates its own entry right after the
//     commit (Invalidate), so its next call already sees it; other
//     replicas see it when the notification arrives (milliseconds). Only
//     changes that take access away matter: a patron who is archived or
//     anonymised fails authentication, and failures are not cached;
//   - while the LISTEN connection is down nothing is cached, and on
//     reconnecting the cache starts empty, so a missed notification can
//     never leave a stale entry;
//   - a row read from the database while an invalidation happened is not
//     cached (generation check), so a slow read cannot re-insert the old row;
//   - every entry expires after DefaultTTL anyway, for changes made with
//     triggers disabled.
package principals
