// Package server assembles the gRPC server, its interceptor chain and the
// REST gateway. The chain runs, outermost first:
//
//	recovery → request id → logging → authentication → validation → metrics
//
// so a panic anywhere becomes INTERNAL, every log line carries the request
// id, nothing unauthenticated reaches validation or a handler, and metrics
// count what handlers did. The gateway is an ordinary gRPC client of the
// server's own port: REST requests go through the very same chain.
//
// Logs never hold request or response bodies, status messages of INTERNAL
// errors, or patron identifiers: only method, code, duration, request id and
// the staff or operator account id.
package server
