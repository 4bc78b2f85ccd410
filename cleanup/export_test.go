package cleanup

// SetChunkKeys makes the duplicate index's chunks hold n keys, so that a small audit spills several runs; it
// returns the function that restores the size.
func SetChunkKeys(n int) (restore func()) {
	old := chunkKeys
	chunkKeys = n
	return func() { chunkKeys = old }
}
