//go:build tools

// Package tools keeps the kaniko executor's dependencies in this module's go.sum.
package tools

import _ "github.com/GoogleContainerTools/kaniko/cmd/executor"
