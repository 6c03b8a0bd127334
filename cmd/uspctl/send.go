package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/gousp/gousp/msg"
	"github.com/gousp/gousp/mtp"
	"github.com/gousp/gousp/proto/usprecord"
	"github.com/gousp/gousp/record"
)

const sendLong = `Send a USP Record read from FILE (or stdin when FILE is "-" or missing), binary
or hex, to the agent named with --agent, as it is: its to_id, from_id and
message are not changed, like mosquitto_pub -f. Build one with "uspctl encode".
Then print the answer as "uspctl decode" does: the first record that comes
back carrying a Msg with the same msg_id (others, such as notifications, are
skipped), or the first record without a Msg other than a connect record (a
Disconnect, say).

The answer comes only if the agent knows the record's from_id as a controller
and sends to where uspctl receives (--topic, --destination): see --help of the
root command.
Exit code 0 when an answer was printed, 1 when it is a USP Error or does not
decode, 3 when the record could not be sent, 4 when nothing came back within
--timeout.`

func (a *app) sendCommand() *cobra.Command {
	var forceHex, noWait bool
	cmd := &cobra.Command{
		Use:   "send [FILE|-]",
		Short: "Send a USP Record from a file and print the answer",
		Long:  sendLong,
		Example: "  uspctl encode -c proto::ctl -a os::012345-SN1 get Device.DeviceInfo. > get.bin\n" +
			"  uspctl send -c proto::ctl -a os::012345-SN1 -T /usp/agent/SN1 get.bin",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := "-"
			if len(args) == 1 {
				name = args[0]
			}
			b, err := a.readInput(name)
			if err != nil {
				return usageErrorf("send: %v", err)
			}
			if forceHex || looksHex(b) {
				if b, err = decodeHex(b); err != nil {
					return usageErrorf("send: %v", err)
				}
			}
			return codeErr(a.send(cmd.Context(), b, !noWait))
		},
	}
	cmd.Flags().BoolVar(&forceHex, "hex", false, "the input is hex text")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "send and exit without waiting for an answer")
	return cmd
}

// send sends one record as it is over the bare transport (no controller:
// the record's IDs are whatever the file says) and prints the answer.
func (a *app) send(ctx context.Context, b []byte, wait bool) int {
	rec, err := record.Decode(b)
	if rec == nil {
		a.errorf("send: not a USP Record: %v", err)
		return exitUsage
	}
	if err != nil {
		a.errorf("send: warning: sending an invalid record: %v", err)
	}
	var msgID string
	if p := recordPayload(rec); p != nil {
		if m, _ := msg.Decode(p); m != nil {
			msgID = m.GetHeader().GetMsgId()
		}
	}
	agents, _, err := a.agentList()
	if err != nil {
		return exitCode(a.report(err))
	}
	if len(agents) != 1 {
		return exitCode(a.report(usageErrorf("send: give exactly one --agent")))
	}
	ag := agents[0]
	if rec.GetToId() != ag.ID {
		a.errorf("send: warning: the record is addressed to %q, not to --agent %q", rec.GetToId(), ag.ID)
	}

	bnd, err := a.newBinding(a)
	if err != nil {
		return exitCode(a.report(err))
	}
	answers := make(chan []byte, 64)
	peers := make(chan mtp.Address, 1)
	h := mtp.HandlerFuncs{
		Record: func(in mtp.Inbound) {
			select {
			case answers <- append([]byte(nil), in.Data...):
			default: // a flood of unrelated records; the answer comes again or not at all
			}
		},
		Event: func(ev mtp.Event) {
			if ev.Kind == mtp.PeerUp && ev.PeerID == ag.ID {
				select {
				case peers <- ev.Peer:
				default:
				}
			}
		},
	}
	ctx, cancel := context.WithTimeout(ctx, a.s.timeout)
	defer cancel()
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer ccancel()
		_ = bnd.t.Close(cctx)
	}()
	if err := bnd.t.Start(ctx, h); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return exitInterrupted
		}
		return exitCode(a.report(connError(fmt.Errorf("cannot connect to %s: %w", bnd.describe, err))))
	}
	to, ok := bnd.address(ag)
	if !ok {
		select {
		case to = <-peers:
		case <-ctx.Done():
			err := fmt.Errorf("agent %s did not connect over %s within %s", ag.ID, bnd.t.Kind(), a.s.timeout)
			if bnd.hint != "" {
				err = fmt.Errorf("%w (%s)", err, bnd.hint)
			}
			return exitCode(a.report(connError(err)))
		}
	}
	a.log.Info("sending", "to", to, "bytes", len(b), "msg_id", msgID)
	if err := bnd.t.Send(ctx, to, b); err != nil {
		return exitCode(a.report(fmt.Errorf("sending to %s: %w", to, err)))
	}
	if !wait {
		return exitOK
	}
	for {
		select {
		case data := <-answers:
			got, _ := record.Decode(data)
			if got == nil {
				a.log.Info("skipping a record that does not decode", "bytes", len(data))
				continue
			}
			switch got.GetRecordType().(type) {
			case *usprecord.Record_WebsocketConnect, *usprecord.Record_MqttConnect, *usprecord.Record_StompConnect, *usprecord.Record_UdsConnect:
				// An agent announcing itself, not answering.
				a.log.Info("skipping a connect record", "kind", recordKind(got))
				continue
			}
			var gotID string
			isError := false
			if p := recordPayload(got); p != nil {
				if m, _ := msg.Decode(p); m != nil {
					gotID = m.GetHeader().GetMsgId()
					isError = m.GetBody().GetError() != nil
				}
			}
			if gotID != "" && msgID != "" && gotID != msgID {
				a.log.Info("skipping a record with another msg_id", "msg_id", gotID)
				continue
			}
			out, text, code := a.decodeBytes(data, "send: answer", false)
			code = worst(code, a.printDecoded(out, text))
			if isError {
				code = worst(code, exitFailed)
			}
			return code
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return exitInterrupted
			}
			return exitCode(a.report(fmt.Errorf("no answer within %s: %w; %s", a.s.timeout, ctx.Err(), a.noAnswerHint(rec.GetFromId(), bnd, to))))
		}
	}
}

// report prints err on stderr and returns it, for exitCode.
func (a *app) report(err error) error {
	a.errorf("%v", err)
	return err
}
