package main

import (
	"context"
	"errors"
)

func runSandbox(ctx context.Context, env *Env, args []string) (int, error) {
	return 1, errors.New("sandbox: being built")
}
