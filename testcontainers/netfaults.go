package testcontainers

import (
	"errors"

	"github.com/citybench/citybench/harness/target"
	"github.com/citybench/citybench/scenarios"
)

func (t *Target) checkNetworkFault(f scenarios.Fault, ft scenarios.FaultTarget) error {
	return errors.New("network faults are not available on this target yet")
}

func (t *Target) prepareNetworkFault(f scenarios.Fault, ft scenarios.FaultTarget) (target.FaultAction, error) {
	return target.FaultAction{}, errors.New("network faults are not available on this target yet")
}
