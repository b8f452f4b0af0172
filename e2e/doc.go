// Package e2e holds the end-to-end tests of the issuer: they build
// cmd/issuer once per test process, start it as a real process (TLS on a
// loopback port, development: false, explicit trust) and drive it over HTTP
// with the Go wallet simulator (e2e/wallet) or the npm wallet
// (e2e/npmwallet). The package has no code of its own besides the tests.
//
// What the Go-simulator tests cover:
//
//   - TestFlows: every wallet flow on each store backend (memory; Redis when
//     ISSUER_TEST_REDIS_URL is set): scope and authorization_details,
//     offers with claims and tx_code, batch, key attestations, encryption,
//     deferred issuance, refresh, notification, replays and concurrent
//     double redemption.
//   - TestMultiInstance: three processes sharing one Redis behind a router
//     that moves the wallet between them at every step; replays across
//     instances; a restart.
//   - TestRedisOutage: the store connection cut and restored.
//   - TestConformanceExpectations: what the OpenID Foundation
//     oid4vci-1_0-issuer-haip-test-plan expects beyond the happy path.
//   - TestConformanceGuide*: docs/conformance.md deploys as written.
//   - redemption_test.go: default validity with a fresh PKI, and
//     revocation after concurrent double redemption (former bugs).
//
// Environment: ISSUER_TEST_REDIS_URL (Redis tests), ISSUER_TEST_REQUIRE_REDIS=1
// (fail instead of skipping without it), ISSUER_TEST_ISSUER_BIN (a prebuilt
// issuer binary instead of building ./cmd/issuer). With -short the
// process-based tests are skipped.
package e2e
