// Package statistics implements StatisticsService: aggregates with no
// person in them, small cells suppressed (package stats), for the operator
// (every library) and for managers (their own library).
package statistics
