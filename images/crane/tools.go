//go:build tools

// Package tools keeps crane's dependencies in this module's go.sum.
package tools

import _ "github.com/google/go-containerregistry/cmd/crane"
