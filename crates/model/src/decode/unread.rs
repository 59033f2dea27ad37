//! What the decoders never read of a pod or a workload, which the JSON reader checks but does not build.
//!
//! In a `kubectl get -o json` dump most of a pod is probes, resources, scheduling and status; building them into
//! the tree only to drop it costs about a third of the read. A field listed here must be read by no decoder of
//! these kinds: a decoder that starts to read one takes it off the list. The load tests hold the narrow read
//! against the whole one on every JSON input they have, and the load fuzz target does on every JSON input it makes.

use crate::json::{Keep, Shape};
use crate::kube::WorkloadKind;

/// What is read of an object of `kind`: `None` for kinds read whole.
pub(crate) fn object_shape(kind: &str) -> Option<&'static Shape> {
    match WorkloadKind::from_kind(kind)? {
        WorkloadKind::Pod => Some(&POD),
        WorkloadKind::CronJob => Some(&CRON_JOB),
        WorkloadKind::Deployment
        | WorkloadKind::StatefulSet
        | WorkloadKind::DaemonSet
        | WorkloadKind::ReplicaSet
        | WorkloadKind::ReplicationController
        | WorkloadKind::Job => Some(&WORKLOAD),
    }
}

static POD: Shape = Shape::new(
    &[("metadata", Keep::Object(&METADATA)), ("spec", Keep::Object(&POD_SPEC)), ("status", Keep::Object(&POD_STATUS))],
    &[],
);

static WORKLOAD: Shape =
    Shape::new(&[("metadata", Keep::Object(&METADATA)), ("spec", Keep::Object(&WORKLOAD_SPEC))], &["status"]);

static CRON_JOB: Shape =
    Shape::new(&[("metadata", Keep::Object(&METADATA)), ("spec", Keep::Object(&CRON_JOB_SPEC))], &["status"]);

/// An object's metadata: its name, namespace, labels, annotations and controller are read.
static METADATA: Shape = Shape::new(
    &[("ownerReferences", Keep::Items(&OWNER_REFERENCE))],
    &[
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "finalizers",
        "generateName",
    ],
);

static OWNER_REFERENCE: Shape = Shape::new(&[], &["apiVersion", "uid", "blockOwnerDeletion"]);

/// A controller's spec: its selector and pod template are read.
static WORKLOAD_SPEC: Shape = Shape::new(
    &[("template", Keep::Object(&POD_TEMPLATE))],
    &[
        "replicas",
        "minReadySeconds",
        "revisionHistoryLimit",
        "progressDeadlineSeconds",
        "paused",
        "strategy",
        "updateStrategy",
        "podManagementPolicy",
        "persistentVolumeClaimRetentionPolicy",
        "volumeClaimTemplates",
        "ordinals",
        "parallelism",
        "completions",
        "completionMode",
        "backoffLimit",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
        "podFailurePolicy",
        "successPolicy",
        "suspend",
    ],
);

static CRON_JOB_SPEC: Shape = Shape::new(
    &[("jobTemplate", Keep::Object(&JOB_TEMPLATE))],
    &[
        "schedule",
        "timeZone",
        "concurrencyPolicy",
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
        "suspend",
    ],
);

static JOB_TEMPLATE: Shape = Shape::new(&[("spec", Keep::Object(&WORKLOAD_SPEC))], &[]);

static POD_TEMPLATE: Shape =
    Shape::new(&[("metadata", Keep::Object(&METADATA)), ("spec", Keep::Object(&POD_SPEC))], &[]);

/// A pod's spec: its node, host network, service account, volumes and containers are read.
static POD_SPEC: Shape = Shape::new(
    &[("containers", Keep::Items(&CONTAINER)), ("initContainers", Keep::Items(&CONTAINER))],
    &[
        "activeDeadlineSeconds",
        "affinity",
        "dnsConfig",
        "dnsPolicy",
        "enableServiceLinks",
        "hostAliases",
        "imagePullSecrets",
        "os",
        "overhead",
        "preemptionPolicy",
        "priority",
        "priorityClassName",
        "readinessGates",
        "resourceClaims",
        "restartPolicy",
        "runtimeClassName",
        "schedulerName",
        "schedulingGates",
        "securityContext",
        "terminationGracePeriodSeconds",
        "tolerations",
        "topologySpreadConstraints",
    ],
);

/// A container: its name, image, command, arguments, environment, ports and volume mounts are read.
static CONTAINER: Shape = Shape::new(
    &[],
    &[
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "readinessProbe",
        "resizePolicy",
        "resources",
        "securityContext",
        "startupProbe",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "workingDir",
    ],
);

/// A pod's status: only its addresses are read.
static POD_STATUS: Shape = Shape::only(&[("podIP", Keep::All), ("podIPs", Keep::All)]);
