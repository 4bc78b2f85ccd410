//go:build race

package pwhash_test

// raceEnabled: the race detector slows pure-Go key derivations (blowfish, salsa20/8) about twentyfold.
const raceEnabled = true
