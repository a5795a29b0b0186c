package kernelcmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/wasipy/wasipy/kernel"
	"github.com/wasipy/wasipy/launcher"
	"github.com/wasipy/wasipy/protocol"
	"github.com/wasipy/wasipy/protocol/zmtp"
)

// runLaunch is `wasipy-kernel launch`: the kernel started by Enterprise
// Gateway, gateway_provisioners or wasipy's own provisioner, with no
// connection file. The launcher's values come from flags or the
// environment (launcher.Parse); every other flag is the kernel's own.
func runLaunch(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, rest, err := launcher.Parse(args, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "wasipy-kernel launch:", err)
		return 2
	}
	for _, a := range rest {
		// Every spelling Go's flag package takes: -f, --f, -connection-file=X, ...
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "f" || name == "connection-file") {
			fmt.Fprintln(stderr, "wasipy-kernel launch: the kernel picks its own ports and key; a connection file has no place here")
			return 2
		}
	}
	return runKernel(rest, stderr, &gatewaySockets{cfg: cfg, stop: make(chan struct{})})
}

// gatewaySockets binds the kernel's five sockets and the communication
// port inside the gateway's port range, then reports them (launcher.Seal,
// launcher.Report). Binding comes first, so no other process can take a
// port the gateway was told about.
type gatewaySockets struct {
	cfg    launcher.Config
	commLn net.Listener
	stop   chan struct{}
	once   sync.Once
}

func (g *gatewaySockets) listen(ctx context.Context, log *slog.Logger) (*zmtp.Server, error) {
	key := g.cfg.Key // a restarted kernel's, so its clients keep signing right
	if key == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		key = hex.EncodeToString(b)
	}
	var srv *zmtp.Server
	err := launcher.BindInRange(g.cfg.IP, g.cfg.Ports, g.cfg.PortLow, g.cfg.PortHigh, 6, func(ports []int) error {
		s, err := zmtp.Listen(ctx, &protocol.ConnectionInfo{
			Transport: "tcp", IP: g.cfg.IP, SignatureScheme: protocol.SchemeHMACSHA256, Key: key,
			ShellPort: ports[0], IOPubPort: ports[1], StdinPort: ports[2], ControlPort: ports[3], HBPort: ports[4],
		}, log)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(g.cfg.IP, strconv.Itoa(ports[5])))
		if err != nil {
			s.Close()
			return fmt.Errorf("binding the communication port: %w", err)
		}
		srv, g.commLn = s, ln
		return nil
	})
	return srv, err
}

// launcherIdentity marks the requests the communication port makes of the
// kernel (an interrupt): their replies have no client to go to.
const launcherIdentity = "wasipy-launcher"

// launchTransport drops the replies to launcherIdentity and passes
// everything else on to the kernel's outbox.
type launchTransport struct{ kernel.Transport }

func (t launchTransport) Send(ch protocol.Channel, m *protocol.Message) error {
	if len(m.Identities) == 1 && string(m.Identities[0]) == launcherIdentity {
		return nil
	}
	return t.Transport.Send(ch, m)
}

func (g *gatewaySockets) transport(out kernel.Transport) kernel.Transport {
	return launchTransport{out}
}

// serving starts the communication port and reports the connection info.
// A kernel that cannot report ends: no gateway would ever connect to it.
func (g *gatewaySockets) serving(ctx context.Context, srv *zmtp.Server, k *kernel.Kernel, log *slog.Logger) (<-chan struct{}, error) {
	comm := launcher.NewCommListener(g.commLn, &launchCommands{g: g, k: k, log: log}, log)
	go func() {
		// Closed as soon as the kernel stops serving, before the
		// interpreter is torn down: the gateway's next poll is refused.
		select {
		case <-ctx.Done():
		case <-g.stop:
		case <-k.Done():
		}
		comm.Close()
	}()
	info := srv.Info()
	payload, err := launcher.Seal(launcher.ConnectionInfo{
		ShellPort: info.ShellPort, IOPubPort: info.IOPubPort, StdinPort: info.StdinPort,
		ControlPort: info.ControlPort, HBPort: info.HBPort, IP: info.IP, Key: info.Key,
		Transport: info.Transport, SignatureScheme: info.SignatureScheme, KernelName: info.KernelName,
		PID: os.Getpid(), PGID: launcher.ProcessGroup(), CommPort: comm.Port(), KernelID: g.cfg.KernelID,
	}, g.cfg.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := launcher.Report(ctx, g.cfg.ResponseAddr, payload); err != nil {
		return nil, err
	}
	log.Info("connection info sent", "kernel_id", g.cfg.KernelID, "response_address", g.cfg.ResponseAddr,
		"shell", info.ShellPort, "comm_port", comm.Port())
	return g.stop, nil
}

func (g *gatewaySockets) private() []string { return nil }

// launchCommands carries out what the gateway sends to the communication port.
type launchCommands struct {
	g   *gatewaySockets
	k   *kernel.Kernel
	log *slog.Logger
}

func (c *launchCommands) Signal(signum int) {
	switch signum {
	case 0: // liveness: answering the connection was the answer
	case 2: // SIGINT: the same path as an interrupt_request
		m := &protocol.Message{
			Identities: [][]byte{[]byte(launcherIdentity)},
			Header: protocol.Header{MsgID: uuid.NewString(), Session: launcherIdentity, Username: "gateway",
				Date: time.Now().UTC().Format(protocol.DateFormat), MsgType: "interrupt_request", Version: protocol.Version},
			Metadata: map[string]any{},
			Content:  []byte("{}"),
		}
		c.k.HandleMessage(protocol.Control, m)
	case 1, 9, 15: // SIGHUP, SIGKILL, SIGTERM: end the kernel, reaping its interpreter
		c.g.end()
	default:
		c.log.Warn("communication port: signal not acted on", "signum", signum)
	}
}

func (c *launchCommands) Shutdown() { c.g.end() }

func (g *gatewaySockets) end() { g.once.Do(func() { close(g.stop) }) }
