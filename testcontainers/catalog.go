package testcontainers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// Component names used in the catalog, in Components() and in resource samples.
const (
	CompMosquitto = "mosquitto"
	CompHiveMQ    = "hivemq"
	CompKafka     = "kafka"
	CompCassandra = "cassandra"
	// CompServices is citybench's own bridge/sink/API binary; it is always built locally.
	CompServices = "services"
)

// Flavour says where images come from.
type Flavour string

const (
	// Upstream images are the projects' own, pulled from a registry when absent.
	Upstream Flavour = "upstream"
	// Offline images are built by `make images` and never pulled.
	Offline Flavour = "offline"
	// Auto picks Offline when every offline tag exists locally, else Upstream.
	Auto Flavour = "auto"
)

// EnvImages selects the flavour: offline | upstream | auto (the default).
const EnvImages = "CITYBENCH_IMAGES"

// EnvServicesImage replaces the bridge/sink/API image of either flavour, e.g. to
// run a branch's services beside another checkout's citybench/services:local on
// one engine; testcontainers/images/build.sh tags the image it builds the same way.
const EnvServicesImage = "CITYBENCH_SERVICES_IMAGE"

// The offline tags must match testcontainers/images/build.sh.
var (
	upstreamImages = map[string]string{
		CompMosquitto: "eclipse-mosquitto:2.0.22",
		CompHiveMQ:    "hivemq/hivemq-ce:2025.5",
		CompKafka:     "apache/kafka:3.9.1",
		CompCassandra: "cassandra:5.0.6",
		CompServices:  "citybench/services:local",
	}
	offlineImages = map[string]string{
		CompMosquitto: "citybench/mosquitto:2.0-offline",
		CompHiveMQ:    "citybench/hivemq-ce:2025.5-offline",
		CompKafka:     "citybench/kafka:3.9.1-offline",
		CompCassandra: "citybench/cassandra:5.0.6-offline",
		CompServices:  "citybench/services:local",
	}
)

// ImageCatalog maps components to image references.
type ImageCatalog struct {
	Flavour Flavour
	Images  map[string]string
}

// UpstreamCatalog returns the upstream defaults.
func UpstreamCatalog() ImageCatalog {
	return ImageCatalog{Flavour: Upstream, Images: clone(upstreamImages)}
}

// OfflineCatalog returns the locally built equivalents.
func OfflineCatalog() ImageCatalog {
	return ImageCatalog{Flavour: Offline, Images: clone(offlineImages)}
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Image returns the reference for a component.
func (c ImageCatalog) Image(component string) string { return c.Images[component] }

// IsOffline reports whether ref is one of the images `make images` builds; the
// catalog and reports use it to tell the two flavours apart.
func IsOffline(ref string) bool {
	return strings.HasSuffix(ref, "-offline") || ref == offlineImages[CompServices] ||
		(ref != "" && ref == os.Getenv(EnvServicesImage))
}

// ErrImageMissing means an image is neither present nor obtainable.
var ErrImageMissing = errors.New("image missing")

// imageAPI is the part of the Docker client the catalog needs.
type imageAPI interface {
	ImageInspect(ctx context.Context, image string, opts ...client.ImageInspectOption) (client.ImageInspectResult, error)
	ImagePull(ctx context.Context, ref string, opts client.ImagePullOptions) (client.ImagePullResponse, error)
}

// ResolveCatalog picks the flavour (explicit, or from CITYBENCH_IMAGES, or auto) and
// checks that the images for components are present locally. An upstream image that
// is absent is pulled with a short deadline, so a machine with no registry fails in
// seconds with advice instead of hanging in retries.
func ResolveCatalog(ctx context.Context, api imageAPI, flavour Flavour, components []string, pullTimeout time.Duration) (ImageCatalog, error) {
	if flavour == "" {
		flavour = Flavour(strings.ToLower(strings.TrimSpace(os.Getenv(EnvImages))))
	}
	if flavour == "" {
		flavour = Auto
	}
	have := func(ref string) bool {
		_, err := api.ImageInspect(ctx, ref)
		return err == nil
	}
	var cat ImageCatalog
	switch flavour {
	case Offline:
		cat = OfflineCatalog()
	case Upstream:
		cat = UpstreamCatalog()
	case Auto:
		cat = OfflineCatalog()
		for _, c := range components {
			if !have(cat.Image(c)) {
				cat = UpstreamCatalog()
				break
			}
		}
	default:
		return ImageCatalog{}, fmt.Errorf("%s=%q: want offline, upstream or auto", EnvImages, flavour)
	}
	if ref := os.Getenv(EnvServicesImage); ref != "" {
		cat.Images[CompServices] = ref
	}

	var missing []string
	for _, c := range components {
		ref := cat.Image(c)
		if ref == "" {
			return cat, fmt.Errorf("image catalog: unknown component %q", c)
		}
		if have(ref) {
			continue
		}
		if cat.Flavour == Upstream && !IsOffline(ref) {
			if err := pull(ctx, api, ref, pullTimeout); err == nil {
				continue
			}
		}
		missing = append(missing, ref)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return cat, fmt.Errorf("%w: %s not present locally and not pullable; run `make images` to build the offline images (then %s=offline or auto)",
			ErrImageMissing, strings.Join(missing, ", "), EnvImages)
	}
	return cat, nil
}

func pull(ctx context.Context, api imageAPI, ref string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := api.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	return nil
}

// ImageInfo is one catalog entry and whether the engine has it.
type ImageInfo struct {
	Component string
	Flavour   Flavour
	Ref       string
	Present   bool
}

// ImageStatus lists both catalogs and which images are present locally.
func ImageStatus(ctx context.Context) ([]ImageInfo, error) {
	dc, err := newDocker(ctx)
	if err != nil {
		return nil, err
	}
	defer dc.Close()
	var out []ImageInfo
	for _, cat := range []ImageCatalog{OfflineCatalog(), UpstreamCatalog()} {
		comps := make([]string, 0, len(cat.Images))
		for c := range cat.Images {
			comps = append(comps, c)
		}
		sort.Strings(comps)
		for _, c := range comps {
			ref := cat.Image(c)
			_, err := dc.ImageInspect(ctx, ref)
			out = append(out, ImageInfo{Component: c, Flavour: cat.Flavour, Ref: ref, Present: err == nil})
		}
	}
	return out, nil
}
