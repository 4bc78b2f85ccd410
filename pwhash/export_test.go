package pwhash

// PhpassEncode exposes phpass's encode64 to the black-box tests, which build benchmark hashes with it.
var PhpassEncode = phpassEncode
