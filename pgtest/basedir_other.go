//go:build !linux

package pgtest

func ramDir() string { return "" }
