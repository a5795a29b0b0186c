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
}

// transportDeps are the wire's transport, which the kernel must not depend
// on either once protocol is a pure codec with the ZMTP transport in a
// subpackage. checkTransportDeps turns that check on.
var transportDeps = []string{"github.com/go-zeromq/zmq4"}

// checkTransportDeps: flip to true when protocol no longer imports zmq4.
const checkTransportDeps = false

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
	if checkTransportDeps {
		forbidden = append(forbidden, transportDeps...)
	}
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
