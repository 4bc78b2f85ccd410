//go:build race

package main

// The race detector slows the key derivations about tenfold; regenerate fewer rows under it.
func init() { deterministicRows = 5 }
