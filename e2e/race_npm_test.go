//go:build race

package e2e

// raceBuild: the test binary is built with -race, so the issuer binary is
// too; it then reuses the race-instrumented packages from the build cache.
const raceBuild = true
