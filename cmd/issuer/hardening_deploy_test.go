package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mdoc-issuer/issuer/config"
)

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas *int             `yaml:"replicas"`
		Selector map[string]any   `yaml:"selector"`
		Ports    []k8sServicePort `yaml:"ports"`
		Template k8sPodTemplate   `yaml:"template"`
	} `yaml:"spec"`
}

type k8sServicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	TargetPort string `yaml:"targetPort"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sPodTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
		} `yaml:"securityContext"`
		Containers []struct {
			Args  []string `yaml:"args"`
			Ports []struct {
				Name          string `yaml:"name"`
				ContainerPort int    `yaml:"containerPort"`
			} `yaml:"ports"`
			Env []struct {
				Name      string `yaml:"name"`
				Value     string `yaml:"value"`
				ValueFrom *struct {
					SecretKeyRef *struct {
						Name string `yaml:"name"`
						Key  string `yaml:"key"`
					} `yaml:"secretKeyRef"`
				} `yaml:"valueFrom"`
			} `yaml:"env"`
			ReadinessProbe  *k8sProbe `yaml:"readinessProbe"`
			LivenessProbe   *k8sProbe `yaml:"livenessProbe"`
			SecurityContext struct {
				ReadOnlyRootFilesystem   bool `yaml:"readOnlyRootFilesystem"`
				AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
			} `yaml:"securityContext"`
			VolumeMounts []struct {
				Name      string `yaml:"name"`
				MountPath string `yaml:"mountPath"`
			} `yaml:"volumeMounts"`
		} `yaml:"containers"`
		Volumes []struct {
			Name      string `yaml:"name"`
			ConfigMap *struct {
				Name string `yaml:"name"`
			} `yaml:"configMap"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

// TestHardeningKubernetesManifests checks deploy/kubernetes: a Deployment of
// three non-root, read-only replicas with readiness on /readyz and liveness
// on /healthz, secrets passed by reference only, a grace period covering the
// configured drain and grace, Services selecting the pods, and a ConfigMap
// whose issuer configuration is valid but for the files mounted from Secrets.
func TestHardeningKubernetesManifests(t *testing.T) {
	files, err := filepath.Glob("../../deploy/kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	byKind := map[string][]k8sObject{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			byKind[o.Kind] = append(byKind[o.Kind], o)
		}
	}
	if len(byKind["Deployment"]) != 1 || len(byKind["ConfigMap"]) != 1 || len(byKind["Service"]) == 0 {
		t.Fatalf("want one Deployment, one ConfigMap and Services; got %v", len(byKind))
	}
	dep := byKind["Deployment"][0]
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
		t.Error("Deployment replicas must be 3")
	}
	pod := dep.Spec.Template
	if !pod.Spec.SecurityContext.RunAsNonRoot || len(pod.Spec.Containers) != 1 {
		t.Fatal("pod must run as non-root with one container")
	}
	c := pod.Spec.Containers[0]
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("readiness probe must GET /readyz")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("liveness probe must GET /healthz")
	}
	if !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation {
		t.Error("container must have a read-only root and no privilege escalation")
	}
	secretEnv := map[string]bool{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			secretEnv[e.Name] = true
		}
	}
	for _, name := range []string{config.EnvRedisURL, config.EnvNonceKeys, config.EnvAdminTokens, config.EnvAuditKey} {
		if !secretEnv[name] {
			t.Errorf("%s must come from a Secret reference", name)
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "ISSUER_") && !secretEnv[e.Name] && !slicesContains(config.KnownEnv, e.Name) {
			t.Errorf("unknown variable %s", e.Name)
		}
	}

	// The configuration in the ConfigMap.
	cm := byKind["ConfigMap"][0]
	doc := cm.Data["issuer.yaml"]
	var mounted bool
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
			mounted = true
		}
	}
	if !mounted || doc == "" || !strings.Contains(strings.Join(c.Args, " "), "--config /etc/issuer/config/issuer.yaml") {
		t.Fatal("the ConfigMap's issuer.yaml must be mounted and passed with --config")
	}
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	cfg, err := config.Parse([]byte(doc), t.TempDir(), envMap(map[string]string{
		config.EnvRedisURL: "redis://redis:6379/0", config.EnvNonceKeys: key, config.EnvAdminTokens: strings.Repeat("a", 40),
		config.EnvAuditKey: key,
	}))
	for _, p := range config.Problems(err) {
		// Files mounted from Secrets do not exist here; anything else is a
		// real mistake in the manifest.
		if !strings.Contains(p.Msg, "/etc/issuer/") {
			t.Errorf("ConfigMap configuration: %v", p)
		} else {
			t.Logf("not checked here (mounted file): %v", p)
		}
	}
	if err != nil && cfg == nil {
		// Parse returns no config on problems; decode again for the values.
		if cfg, err = config.Decode([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.Store.Backend != "redis" || cfg.RateLimits.Enabled == nil || !*cfg.RateLimits.Enabled || cfg.Audit.File == "" {
		t.Error("the configuration must use Redis, rate limits and an audit log")
	}
	if need := int((cfg.HTTP.ShutdownDelay.D() + cfg.HTTP.ShutdownGrace.D()).Seconds()); pod.Spec.TerminationGracePeriodSeconds <= need {
		t.Errorf("terminationGracePeriodSeconds %d must exceed shutdown_delay + shutdown_grace (%d s)", pod.Spec.TerminationGracePeriodSeconds, need)
	}

	// Services select the pods and target declared container ports.
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for _, s := range byKind["Service"] {
		sel, _ := yamlStrings(s.Spec.Selector)
		for k, v := range sel {
			if pod.Metadata.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, not on the pods", s.Metadata.Name, k, v)
			}
		}
		for _, p := range s.Spec.Ports {
			if !ports[p.TargetPort] {
				t.Errorf("Service %s targets undeclared port %q", s.Metadata.Name, p.TargetPort)
			}
		}
	}
}

func yamlStrings(m map[string]any) (map[string]string, bool) {
	out := map[string]string{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return out, false
		}
		out[k] = s
	}
	return out, true
}

func slicesContains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestHardeningMakeTestFuzzes: `make test` runs every fuzz target briefly
// after the race tests, and `make fuzz` fuzzes each target from its package
// directory (where testdata/fuzz seeds live) with a fuzzing-instrumented
// build.
func TestHardeningMakeTestFuzzes(t *testing.T) {
	b, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	recipe := func(target string) string {
		i := strings.Index(mk, "\n"+target+":")
		if i < 0 {
			t.Fatalf("no %s target", target)
		}
		rest := mk[i+1:]
		if j := strings.Index(rest, "\n\n"); j > 0 {
			rest = rest[:j]
		}
		return rest
	}
	test := recipe("test")
	if !strings.Contains(test, "-race") || !strings.Contains(test, "fuzz FUZZTIME=$(FUZZTIME_SMOKE)") {
		t.Errorf("make test must run the race tests, then `fuzz` with FUZZTIME_SMOKE:\n%s", test)
	}
	fuzz := recipe("fuzz")
	for _, want := range []string{"test -c -fuzz", "-test.fuzz", "-test.fuzztime $(FUZZTIME)", `cd "$$0"`, "^func Fuzz"} {
		if !strings.Contains(fuzz, want) {
			t.Errorf("make fuzz lacks %q:\n%s", want, fuzz)
		}
	}
}
