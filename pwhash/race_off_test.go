//go:build !race

package pwhash_test

const raceEnabled = false
