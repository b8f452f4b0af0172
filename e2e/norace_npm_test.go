//go:build !race

package e2e

// raceBuild: see race_npm_test.go.
const raceBuild = false
