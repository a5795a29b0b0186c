package kernel

import (
	"os/exec"
	"strings"
	"testing"
)

// forbiddenDeps are packages the kernel must not depend on: it speaks to
// the language only through Interpreter, and never runs WebAssembly.
var forbiddenDeps = []string{
	"github.com/tetratelabs/wazero",
	"github.com/wasipy/wasipy/interp",
	// The wire's transport: the kernel sees only the codec (protocol) and
	// its own Transport interface, which zmtp.Server satisfies.
	"github.com/go-zeromq/zmq4",
}

// The seam holds: `go list -deps ./kernel` names none of the forbidden
// packages (nor any package beneath them).
func TestKernelDependsOnNeitherWazeroNorInterp(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := forbiddenDeps
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed too little to be right: %q", deps)
	}
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("kernel depends on %s", dep)
			}
		}
	}
}
