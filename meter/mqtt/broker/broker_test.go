package broker

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestCloseWithClients: Close returns while clients are connected and
// reconnecting (mochi's own listener could deadlock here), and a broker
// starts again on the same address and carries messages.
func TestCloseWithClients(t *testing.T) {
	b, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := b.Addr()
	var clients []paho.Client
	for i := range 8 {
		c := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID(fmt.Sprint("c", i)).
			SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(10 * time.Millisecond).SetMaxReconnectInterval(50 * time.Millisecond))
		if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		clients = append(clients, c)
	}
	defer func() {
		for _, c := range clients {
			c.Disconnect(10)
		}
	}()
	for round := range 5 {
		done := make(chan struct{})
		go func() { b.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: Close hangs with connected clients", round)
		}
		for b, err = Start(addr, nil); err != nil; b, err = Start(addr, nil) {
			time.Sleep(10 * time.Millisecond)
		}
	}
	defer b.Close()

	got := make(chan string, 1)
	sub := clients[0]
	deadline := time.Now().Add(10 * time.Second)
	for !sub.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if tok := sub.Subscribe("t", 0, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if err := b.Publish("t", []byte("hello"), false); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "hello" {
			t.Fatalf("got %q, want hello", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no message through the restarted broker")
	}
}
