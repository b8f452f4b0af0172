package main

import (
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestStaticBuild builds the release binary exactly as the Dockerfile does
// (`make build`, whose flags are CGO_ENABLED=0 -trimpath -ldflags "-s -w
// -X ..."), checks that it is a static, stripped executable a distroless
// image can run, and runs `version`.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the release binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("ELF checks")
	}
	mk, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make not installed")
	}
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^RUN make build BIN=/out/issuer`).Match(df) {
		t.Fatal("the Dockerfile must build with `make build` so that this test checks the image's flags")
	}

	bin := filepath.Join(t.TempDir(), "issuer")
	cmd := exec.Command(mk, "-s", "-C", "../..", "build", "BIN="+bin, "VERSION=v9.9.9-test", "COMMIT=c0ffee")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1") // the Makefile must force 0
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary has a dynamic loader (PT_INTERP): not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("binary needs shared libraries %v", libs)
	}
	if _, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Fatal("binary is not stripped (-s)")
	}
	if f.Section(".debug_info") != nil {
		t.Fatal("binary carries DWARF (-w)")
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "issuer v9.9.9-test (commit c0ffee)" {
		t.Fatalf("version printed %q", got)
	}
}

// TestDeployFiles checks the shipped deployment files for the properties
// operators rely on: a non-root image with a health check calling the
// binary, and a compose file whose Redis persists and whose issuer uses it.
func TestDeployFiles(t *testing.T) {
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range []string{
		`(?m)^FROM golang:1\.26 AS build$`,
		`(?m)^FROM gcr\.io/distroless/static[^ ]*:nonroot$`,
		`(?m)^USER 65532:65532$`,
		`(?m)^HEALTHCHECK .*\n\s+CMD \["/usr/local/bin/issuer", "healthcheck"`,
	} {
		if !regexp.MustCompile(re).Match(df) {
			t.Errorf("Dockerfile lacks %s", re)
		}
	}
	var compose struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]any    `yaml:"depends_on"`
		} `yaml:"services"`
	}
	b, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	redis, issuer := compose.Services["redis"], compose.Services["issuer"]
	if !slices.Contains(redis.Command, "--appendonly") {
		t.Error("redis without append-only persistence")
	}
	if issuer.Environment["ISSUER_STORE_BACKEND"] != "redis" || !strings.HasPrefix(issuer.Environment["ISSUER_REDIS_URL"], "redis://redis:") {
		t.Error("issuer not on the compose Redis")
	}
	if issuer.DependsOn["redis"] == nil {
		t.Error("issuer does not wait for redis")
	}
}
