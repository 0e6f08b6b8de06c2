package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/citybench/citybench/pipeline/codec"
	"github.com/citybench/citybench/pipeline/embedded"
	"github.com/citybench/citybench/pipeline/service"
)

// newPipelineCmd groups the commands that run the reference pipeline itself.
func newPipelineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Run the reference pipeline: one component standalone, or all of it in-process",
	}
	cmd.AddCommand(newPipelineServeCmd(), newPipelineUpCmd())
	return cmd
}

func newPipelineServeCmd() *cobra.Command {
	var cfg service.Config
	var logLevel string
	cmd := &cobra.Command{
		Use:   "serve bridge|sink|api",
		Short: "Run one pipeline component until SIGTERM/SIGINT, configured by flags or CITYBENCH_* variables",
		Long: "Run one pipeline component until SIGTERM/SIGINT. Every flag falls back to the CITYBENCH_* " +
			"environment variable named in its help, then to its default. On a signal the component stops " +
			"taking work and finishes what it holds within --drain-timeout.",
		Args: func(cmd *cobra.Command, args []string) error {
			return withCode(exitInvalid, cobra.ExactArgs(1)(cmd, args))
		},
		ValidArgs: []string{service.Bridge, service.Sink, service.API},
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := pipelineLogger(cmd, logLevel)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			if err := cfg.Validate(args[0]); err != nil {
				return withCode(exitInvalid, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return service.Run(ctx, args[0], cfg, logger, nil)
		},
	}
	if err := cfg.Bind(cmd.Flags(), os.Getenv); err != nil {
		// A bad environment value must not be silently replaced by a default.
		cmd.RunE = func(*cobra.Command, []string) error { return withCode(exitInvalid, err) }
	}
	cmd.Flags().StringVar(&logLevel, "log-level", pipelineEnvOr("CITYBENCH_LOG_LEVEL", "info"),
		"log level: debug, info, warn, error [$CITYBENCH_LOG_LEVEL]")
	return cmd
}

func newPipelineUpCmd() *cobra.Command {
	var (
		partitions, bridges, sinks, connections int
		codecName, logLevel                     string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the whole pipeline in this process and print its endpoints until Ctrl-C",
		Long: "Start the embedded pipeline (mochi-mqtt broker, three in-process Kafka brokers, bridge, sink, " +
			"in-memory store, web API) on random loopback ports and print its endpoints. For trying " +
			"citybench out and for development: it says nothing about production capacity.",
		Args: func(cmd *cobra.Command, args []string) error {
			return withCode(exitInvalid, cobra.NoArgs(cmd, args))
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := pipelineLogger(cmd, logLevel)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			cd, err := codec.ByName(codecName)
			if err != nil {
				return withCode(exitInvalid, err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			p, err := embedded.Start(ctx, embedded.WithCodec(cd), embedded.WithPartitions(partitions),
				embedded.WithBridges(bridges), embedded.WithSinks(sinks), embedded.WithLogger(logger),
				embedded.WithConnections(connections))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "MQTT broker:     %s\n", p.MQTTURL)
			fmt.Fprintf(out, "Kafka brokers:   %s\n", strings.Join(p.KafkaBrokers, ","))
			fmt.Fprintf(out, "Kafka topics:    %s (%d partitions), %s\n", p.Topic, partitions, p.DeadLetterTopic)
			fmt.Fprintf(out, "Web API:         %s\n", p.APIURL)
			fmt.Fprintf(out, "Codec:           %s\nPress Ctrl-C to stop.\n", cd.Name())
			<-ctx.Done()
			fmt.Fprintln(out, "stopping…")
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := p.Close(closeCtx); err != nil {
				return err
			}
			fmt.Fprintf(out, "stopped; counters: %v\n", p.Counters())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&partitions, "partitions", embedded.DefaultPartitions, "partitions of the readings topic")
	f.IntVar(&bridges, "bridges", 1, "bridge instances in the MQTT share group")
	f.IntVar(&sinks, "sinks", 1, "sink instances in the Kafka consumer group")
	f.IntVar(&connections, "connections", 0, fmt.Sprintf("MQTT clients to size the broker for (devices, bridges, taps); its per-connection write queues share %d MiB (0: the deepest queue for every client)", embedded.WriteQueueBudget>>20))
	f.StringVar(&codecName, "codec", pipelineEnvOr("CITYBENCH_CODEC", "json"), "payload codec: "+strings.Join(codec.Names(), ", ")+" [$CITYBENCH_CODEC]")
	f.StringVar(&logLevel, "log-level", pipelineEnvOr("CITYBENCH_LOG_LEVEL", "warn"), "log level: debug, info, warn, error [$CITYBENCH_LOG_LEVEL]")
	return cmd
}

func pipelineEnvOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// pipelineLogger logs JSON to the command's stderr, which is what container log
// collectors expect.
func pipelineLogger(cmd *cobra.Command, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: l})), nil
}
