package orders_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ordersv1 "github.com/archway-gateway/archway/gen/storefront/orders/v1"
)

type chat = grpc.BidiStreamingClient[ordersv1.SupportMessage, ordersv1.SupportMessage]

func say(t *testing.T, c chat, name, text string) {
	t.Helper()
	if err := c.Send(&ordersv1.SupportMessage{Name: name, Text: text}); err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
}

// hear receives the next message and checks that support wrote it and that it contains want.
func hear(t *testing.T, c chat, want string) {
	t.Helper()
	m, err := c.Recv()
	if err != nil {
		t.Fatalf("waiting for %q: %v", want, err)
	}
	if m.GetAuthor() != ordersv1.Author_AUTHOR_SUPPORT || !strings.Contains(m.GetText(), want) || m.GetCreateTime() == nil {
		t.Fatalf("message %v, want one from support containing %q", m, want)
	}
}

func TestSupportChat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const order = "orders/ord-1024"
	c, err := f.client.SupportChat(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	say(t, c, order, "hello")
	hear(t, c, "Order orders/ord-1024 is ORDER_STATE_PENDING")
	hear(t, c, "get back to you")
	if _, err := f.client.AdvanceOrder(t.Context(), &ordersv1.AdvanceOrderRequest{Name: order}); err != nil {
		t.Fatal(err)
	}
	hear(t, c, "now ORDER_STATE_PAID")
	say(t, c, order, "What is the status?")
	hear(t, c, "is ORDER_STATE_PAID")
	say(t, c, order, "Please cancel it")
	hear(t, c, "is cancelled")
	hear(t, c, "now ORDER_STATE_CANCELLED")
	say(t, c, order, "cancel it again")
	hear(t, c, "cannot be cancelled")
	if err := c.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the customer closed the chat: %v, want the end of the stream", err)
	}
	waitNoWatchers(t, f.svc)
}

func TestSupportChatErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		messages []*ordersv1.SupportMessage
		want     codes.Code
	}{
		{"unknown order", []*ordersv1.SupportMessage{{Name: "orders/ord-9999", Text: "hi"}}, codes.NotFound},
		{"empty text", []*ordersv1.SupportMessage{{Name: "orders/ord-1001", Text: ""}}, codes.InvalidArgument},
		{"another order", []*ordersv1.SupportMessage{
			{Name: "orders/ord-1001", Text: "hi"},
			{Name: "orders/ord-1002", Text: "and this one?"},
		}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			c, err := f.client.SupportChat(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tt.messages {
				if err := c.Send(m); err != nil {
					break
				}
			}
			for range 10 {
				if _, err = c.Recv(); err != nil {
					break
				}
			}
			if status.Code(err) != tt.want {
				t.Errorf("chat ended with %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSupportChatEndsWhenClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c, err := f.client.SupportChat(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	say(t, c, "orders/ord-1024", "hello")
	hear(t, c, "is ORDER_STATE_PENDING")
	hear(t, c, "get back to you")
	f.svc.Close()
	if _, err := c.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("after Close: %v, want UNAVAILABLE", err)
	}
	waitNoWatchers(t, f.svc)
}
