package kernelspec_test

import (
	"fmt"
	"log"

	"github.com/wasipy/wasipy/kernelspec"
)

// The kernel.json wasipy installs for a kernel binary and an interpreter.
func ExampleNew() {
	s := kernelspec.New("/opt/wasipy/bin/wasipy-kernel", []string{"--python-wasm", "/opt/wasipy/python.wasm"})
	data, err := s.Marshal()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(data))
	// Output:
	// {
	//   "argv": [
	//     "/opt/wasipy/bin/wasipy-kernel",
	//     "--python-wasm",
	//     "/opt/wasipy/python.wasm",
	//     "--connection-file",
	//     "{connection_file}"
	//   ],
	//   "display_name": "Python 3.13 (wasipy)",
	//   "language": "python",
	//   "interrupt_mode": "message",
	//   "metadata": {
	//     "debugger": true
	//   }
	// }
}
