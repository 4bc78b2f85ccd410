package graph_test

import (
	"github.com/idshift/idshift/graph"
	"github.com/idshift/idshift/importer"
)

// The importer drives the tenant through a Client or a Pool.
var (
	_ importer.Directory = (*graph.Client)(nil)
	_ importer.Directory = (*graph.Pool)(nil)
)
