// Package config owns the issuer's configuration tree: how it is read (one
// YAML file decoded strictly, or the embedded development default), how
// deployment values are overridden from ISSUER_* environment variables, the
// defaults, and one validation pass that reports every problem with its path.
//
// It does not open stores, keys or listeners and it does not build protocol
// options: cmd/issuer maps a validated Config into each package's Options.
// Besides reading the files the configuration names (to report missing or
// unparsable trust anchors at validation time), it has no side effects.
package config
