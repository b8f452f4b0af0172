// Package mdocinterop checks that mdocs issued by package mdoc with a PKI from
// package pki verify in two independent npm libraries (@owf/mdoc and
// @auth0/mdl), driven through e2e/node/verify-mdoc.mjs. It owns only that
// test; it skips when node or e2e/node/node_modules is missing unless
// ISSUER_TEST_REQUIRE_NODE=1 (CI runs `npm ci` in e2e/node first).
package mdocinterop
