package provisioner

import "errors"

// Sentinel errors. Every error the package returns wraps one of these (or a
// context error), so callers branch with errors.Is.
var (
	// ErrUnknownLeaf: the relay parent is not an active leaf.
	ErrUnknownLeaf = errors.New("provisioner: relay parent is not an active leaf")
	// ErrLeafDeactivated: the leaf was deactivated while a request or a
	// subscription for it was open.
	ErrLeafDeactivated = errors.New("provisioner: leaf deactivated")
	// ErrShuttingDown: the subsystem concluded or its context ended.
	ErrShuttingDown = errors.New("provisioner: shutting down")
	// ErrAssemblyTimeout: assembling the inherent took longer than the
	// configured bound.
	ErrAssemblyTimeout = errors.New("provisioner: inherent assembly timed out")
	// ErrChainView: the injected chain view failed.
	ErrChainView = errors.New("provisioner: chain view")
	// ErrTooManyRequests: too many requests are already held for the leaf.
	ErrTooManyRequests = errors.New("provisioner: too many held requests for the leaf")
	// ErrSlowSubscriber: a subscriber did not keep up and lost its
	// subscription.
	ErrSlowSubscriber = errors.New("provisioner: subscriber too slow")
	// ErrUnsubscribed: the subscriber cancelled its subscription.
	ErrUnsubscribed = errors.New("provisioner: unsubscribed")
	// ErrInvalidConfig: Config failed validation.
	ErrInvalidConfig = errors.New("provisioner: invalid config")
	// ErrInvalidData: provisionable data was rejected (the reason is in the
	// wrapping error and in the discarded-data metric).
	ErrInvalidData = errors.New("provisioner: invalid provisionable data")
)
