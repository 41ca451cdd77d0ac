package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/gridmesh/gridmesh/meter/mqtt/broker"
)

// Broker is a running broker a test can restart.
type Broker interface {
	URL() string
	// Restart stops the broker, dropping every connection and subscription,
	// and starts it again on the same port.
	Restart(t testing.TB)
}

// Each runs fn against the embedded broker and against mosquitto.
func Each(t *testing.T, fn func(t *testing.T, b Broker)) {
	t.Run("embedded", func(t *testing.T) { fn(t, Embedded(t)) })
	t.Run("mosquitto", func(t *testing.T) { fn(t, Mosquitto(t)) })
}

type embedded struct {
	b    *broker.Broker
	addr string
}

// Embedded starts the embedded broker (meter/mqtt/broker) on a free loopback
// port, closed at the end of the test.
func Embedded(t testing.TB) Broker {
	t.Helper()
	e := &embedded{addr: "127.0.0.1:0"}
	if err := e.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.b != nil {
			e.b.Close()
		}
	})
	return e
}

func (e *embedded) start() error {
	b, err := broker.Start(e.addr, nil)
	if err != nil {
		return err
	}
	e.b, e.addr = b, b.Addr()
	return nil
}

func (e *embedded) URL() string { return "tcp://" + e.addr }

func (e *embedded) Restart(t testing.TB) {
	t.Helper()
	e.b.Close()
	e.b = nil
	var err error
	for range 50 { // the port may take a moment to be free again
		if err = e.start(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("restart embedded broker on %s: %v", e.addr, err)
}

// Required reports whether tests needing external tools must fail, not
// skip, when a tool is missing.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("GRIDMESH_REQUIRE_ALL") != ""
}

// mosquittoPaths are tried when mosquitto is not on PATH (Debian puts it
// in /usr/sbin, often not on a user's PATH).
var mosquittoPaths = []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"}

type mosquitto struct {
	bin, conf string
	port      int
	cmd       *exec.Cmd
}

// Mosquitto starts mosquitto on a free 127.0.0.1 port, stopped at the end
// of the test. Without mosquitto it skips the test, or fails it in CI or
// with GRIDMESH_REQUIRE_ALL set.
func Mosquitto(t testing.TB) Broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range mosquittoPaths {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if Required() {
			t.Fatal("mosquitto not installed (apt-get install -y mosquitto); required in CI / with GRIDMESH_REQUIRE_ALL")
		}
		t.Skip("mosquitto not installed (apt-get install -y mosquitto); set GRIDMESH_REQUIRE_ALL=1 to fail instead of skipping")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	c := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest none\n", port)
	if err := os.WriteFile(conf, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	m := &mosquitto{bin: bin, conf: conf, port: port}
	m.start(t)
	t.Cleanup(m.stop)
	return m
}

func (m *mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

func (m *mosquitto) start(t testing.TB) {
	t.Helper()
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if err := m.cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", m.port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.stop()
			t.Fatalf("mosquitto does not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (m *mosquitto) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		m.cmd.Process.Kill()
		<-done
	}
	m.cmd = nil
}

func (m *mosquitto) Restart(t testing.TB) {
	t.Helper()
	m.stop()
	m.start(t)
}

// Client connects a plain paho client (for publishing or watching in a
// test), disconnected at the end of the test.
func Client(t testing.TB, url string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("test-%d", time.Now().UnixNano())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).
		SetMaxReconnectInterval(time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// Publish publishes payload (QoS 1, not retained) and waits for the broker.
func Publish(t testing.TB, c paho.Client, topic string, payload []byte) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}
