package app

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// setupTracing exports spans over OTLP/gRPC when an endpoint is configured.
// Spans carry method names and codes only: no request payloads.
func (w *wiring) setupTracing(ctx context.Context) error {
	if w.deps.Tracer != nil {
		w.tracer = w.deps.Tracer
		return nil
	}
	if w.deps.Config.OTLPEndpoint == "" {
		return nil
	}
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(w.deps.Config.OTLPEndpoint))
	if err != nil {
		return fmt.Errorf("OTLP exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("patronfed"))),
	)
	w.tracer = tp
	w.closers = append(w.closers, func() { _ = tp.Shutdown(context.Background()) })
	return nil
}
