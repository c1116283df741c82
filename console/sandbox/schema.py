"""The Go types behind the JSON: what kube-apiserver's typed decoding accepts for each field it knows.

A real API server decodes a body into Go structs before anything else, so ``{"spec": 5}`` or
``"replicas": "x"`` never reach defaulting or validation: they are a 400 worded by Go's ``encoding/json``
(``json: cannot unmarshal number into Go struct field Deployment.spec of type v1.DeploymentSpec``).
:func:`decode` does the same over the fields the sandbox's types declare here, and normalizes as a
typed round trip would (a null field is dropped, a JSON number in a quantity becomes its string, times
are written back in UTC, a null list item becomes the item's zero value). Unknown fields are kept as they
are (the sandbox does not prune), but their nesting depth was already bounded by the parser.

Custom resources (the Prometheus Operator's) are checked against their OpenAPI schema instead, with the
apiextensions wording (422 ``spec.groups in body must be of type array: "string"``).

The type vocabulary the declarations are written in, and the parsing of quantities and times, are in
console/sandbox/gotypes.py; this module declares each kind's fields and walks a body through them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from .gotypes import (
    BYTES,
    I32,
    I64,
    IOS,
    MICRO,
    QMAP,
    QUANTITY_MSG,
    QUANTITY_RE,
    STRMAP,
    STRS,
    TIME,
    B,
    GoType,
    Int,
    ListOf,
    MapOf,
    Q,
    Raw,
    S,
    Scalar,
    Special,
    Struct,
    json_type,
    obj,
    openapi_type,
    parse_time,
    struct,
)


class TypeMismatch(Exception):
    """A JSON value that does not fit the Go type of its field (the first one found, as Go reports it)."""

    def __init__(self, message: str, *, openapi_path: str = "", expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.openapi_path = openapi_path  # "spec.groups[0].name" (indices included, for CRD errors)
        self.expected = expected  # OpenAPI type name ("array"), for CRD errors
        self.actual = actual  # OpenAPI type name of what came ("string")


# ---- meta/v1 ---------------------------------------------------------------------------------------
OWNER_REF = struct("v1.OwnerReference", apiVersion=S, kind=S, name=S, uid=S, controller=B, blockOwnerDeletion=B)
OBJECT_META = struct(
    "v1.ObjectMeta", name=S, generateName=S, namespace=S, selfLink=S, uid=S, resourceVersion=S, generation=I64,
    creationTimestamp=TIME, deletionTimestamp=TIME, deletionGracePeriodSeconds=I64, labels=STRMAP,
    annotations=STRMAP, ownerReferences=ListOf(OWNER_REF), finalizers=STRS,
    managedFields=ListOf(obj("v1.ManagedFieldsEntry")),
)
LABEL_SELECTOR = struct("v1.LabelSelector", matchLabels=STRMAP, matchExpressions=ListOf(
    struct("v1.LabelSelectorRequirement", key=S, operator=S, values=STRS)))
OBJECT_REF = struct("v1.ObjectReference", kind=S, namespace=S, name=S, uid=S, apiVersion=S, resourceVersion=S,
                    fieldPath=S)


def _conditions(go: str, *, update_time: bool = False, probe_time: bool = False,
                heartbeat: bool = False) -> ListOf:
    fields: dict[str, GoType] = {"type": S, "status": S, "lastTransitionTime": TIME, "reason": S, "message": S}
    if update_time:
        fields["lastUpdateTime"] = TIME
    if probe_time:
        fields["lastProbeTime"] = TIME
    if heartbeat:
        fields["lastHeartbeatTime"] = TIME
    return ListOf(Struct(go, fields))


# ---- core/v1 pods ----------------------------------------------------------------------------------
_HANDLER = {
    "exec": struct("v1.ExecAction", command=STRS),
    "httpGet": struct("v1.HTTPGetAction", path=S, port=IOS, host=S, scheme=S,
                      httpHeaders=ListOf(struct("v1.HTTPHeader", name=S, value=S))),
    "tcpSocket": struct("v1.TCPSocketAction", port=IOS, host=S),
    "grpc": struct("v1.GRPCAction", port=I32, service=S),
}
PROBE = Struct("v1.Probe", {**_HANDLER, "initialDelaySeconds": I32, "timeoutSeconds": I32, "periodSeconds": I32,
                            "successThreshold": I32, "failureThreshold": I32, "terminationGracePeriodSeconds": I64})
RESOURCES = struct("v1.ResourceRequirements", limits=QMAP, requests=QMAP, claims=ListOf(obj("v1.ResourceClaim")))
CONTAINER = struct(
    "v1.Container", name=S, image=S, command=STRS, args=STRS, workingDir=S,
    ports=ListOf(struct("v1.ContainerPort", name=S, hostPort=I32, containerPort=I32, protocol=S, hostIP=S)),
    envFrom=ListOf(obj("v1.EnvFromSource")),
    env=ListOf(struct("v1.EnvVar", name=S, value=S, valueFrom=obj("v1.EnvVarSource"))),
    resources=RESOURCES, resizePolicy=ListOf(obj("v1.ContainerResizePolicy")), restartPolicy=S,
    volumeMounts=ListOf(struct("v1.VolumeMount", name=S, readOnly=B, recursiveReadOnly=S, mountPath=S, subPath=S,
                               mountPropagation=S, subPathExpr=S)),
    volumeDevices=ListOf(obj("v1.VolumeDevice")), livenessProbe=PROBE, readinessProbe=PROBE, startupProbe=PROBE,
    lifecycle=obj("v1.Lifecycle"), terminationMessagePath=S, terminationMessagePolicy=S, imagePullPolicy=S,
    securityContext=obj("v1.SecurityContext"), stdin=B, stdinOnce=B, tty=B,
)
_NODE_SELECTOR_REQ = struct("v1.NodeSelectorRequirement", key=S, operator=S, values=STRS)
_NODE_SELECTOR_TERM = struct("v1.NodeSelectorTerm", matchExpressions=ListOf(_NODE_SELECTOR_REQ),
                             matchFields=ListOf(_NODE_SELECTOR_REQ))
AFFINITY = struct(
    "v1.Affinity",
    nodeAffinity=struct(
        "v1.NodeAffinity",
        requiredDuringSchedulingIgnoredDuringExecution=struct("v1.NodeSelector",
                                                              nodeSelectorTerms=ListOf(_NODE_SELECTOR_TERM)),
        preferredDuringSchedulingIgnoredDuringExecution=ListOf(
            struct("v1.PreferredSchedulingTerm", weight=I32, preference=_NODE_SELECTOR_TERM))),
    podAffinity=obj("v1.PodAffinity"), podAntiAffinity=obj("v1.PodAntiAffinity"),
)
VOLUME = struct(
    "v1.Volume", name=S,
    persistentVolumeClaim=struct("v1.PersistentVolumeClaimVolumeSource", claimName=S, readOnly=B),
    emptyDir=struct("v1.EmptyDirVolumeSource", medium=S, sizeLimit=Q), hostPath=obj("v1.HostPathVolumeSource"),
    configMap=obj("v1.ConfigMapVolumeSource"), secret=obj("v1.SecretVolumeSource"),
    projected=obj("v1.ProjectedVolumeSource"), csi=obj("v1.CSIVolumeSource"), nfs=obj("v1.NFSVolumeSource"),
    ephemeral=obj("v1.EphemeralVolumeSource"), downwardAPI=obj("v1.DownwardAPIVolumeSource"),
)
POD_SPEC = struct(
    "v1.PodSpec", volumes=ListOf(VOLUME), initContainers=ListOf(CONTAINER), containers=ListOf(CONTAINER),
    ephemeralContainers=ListOf(obj("v1.EphemeralContainer")), restartPolicy=S, terminationGracePeriodSeconds=I64,
    activeDeadlineSeconds=I64, dnsPolicy=S, nodeSelector=STRMAP, serviceAccountName=S, serviceAccount=S,
    automountServiceAccountToken=B, nodeName=S, hostNetwork=B, hostPID=B, hostIPC=B, shareProcessNamespace=B,
    securityContext=obj("v1.PodSecurityContext"),
    imagePullSecrets=ListOf(struct("v1.LocalObjectReference", name=S)), hostname=S, subdomain=S,
    affinity=AFFINITY, schedulerName=S,
    tolerations=ListOf(struct("v1.Toleration", key=S, operator=S, value=S, effect=S, tolerationSeconds=I64)),
    hostAliases=ListOf(struct("v1.HostAlias", ip=S, hostnames=STRS)), priorityClassName=S, priority=I32,
    dnsConfig=obj("v1.PodDNSConfig"), readinessGates=ListOf(struct("v1.PodReadinessGate", conditionType=S)),
    runtimeClassName=S, enableServiceLinks=B, preemptionPolicy=S, overhead=QMAP,
    topologySpreadConstraints=ListOf(obj("v1.TopologySpreadConstraint")), setHostnameAsFQDN=B,
    os=struct("v1.PodOS", name=S), hostUsers=B, schedulingGates=ListOf(struct("v1.PodSchedulingGate", name=S)),
    resourceClaims=ListOf(obj("v1.PodResourceClaim")),
)
POD_TEMPLATE = struct("v1.PodTemplateSpec", metadata=OBJECT_META, spec=POD_SPEC)
_CONTAINER_STATE = struct(
    "v1.ContainerState",
    waiting=struct("v1.ContainerStateWaiting", reason=S, message=S),
    running=struct("v1.ContainerStateRunning", startedAt=TIME),
    terminated=struct("v1.ContainerStateTerminated", exitCode=I32, signal=I32, reason=S, message=S,
                      startedAt=TIME, finishedAt=TIME, containerID=S),
)
CONTAINER_STATUS = struct(
    "v1.ContainerStatus", name=S, state=_CONTAINER_STATE, lastState=_CONTAINER_STATE, ready=B, restartCount=I32,
    image=S, imageID=S, containerID=S, started=B, allocatedResources=QMAP, resources=RESOURCES,
    volumeMounts=ListOf(obj("v1.VolumeMountStatus")), user=obj("v1.ContainerUser"),
    allocatedResourcesStatus=ListOf(obj("v1.ResourceStatus")),
)
POD_STATUS = struct(
    "v1.PodStatus", phase=S, conditions=_conditions("v1.PodCondition", probe_time=True), message=S, reason=S,
    nominatedNodeName=S, hostIP=S, hostIPs=ListOf(struct("v1.HostIP", ip=S)), podIP=S,
    podIPs=ListOf(struct("v1.PodIP", ip=S)), startTime=TIME, initContainerStatuses=ListOf(CONTAINER_STATUS),
    containerStatuses=ListOf(CONTAINER_STATUS), qosClass=S, ephemeralContainerStatuses=ListOf(CONTAINER_STATUS),
    resize=S, resourceClaimStatuses=ListOf(obj("v1.PodResourceClaimStatus")),
)

# ---- apps/v1 ----------------------------------------------------------------------------------------
DEPLOYMENT_SPEC = struct(
    "v1.DeploymentSpec", replicas=I32, selector=LABEL_SELECTOR, template=POD_TEMPLATE,
    strategy=struct("v1.DeploymentStrategy", type=S,
                    rollingUpdate=struct("v1.RollingUpdateDeployment", maxUnavailable=IOS, maxSurge=IOS)),
    minReadySeconds=I32, revisionHistoryLimit=I32, paused=B, progressDeadlineSeconds=I32,
)
DEPLOYMENT_STATUS = struct(
    "v1.DeploymentStatus", observedGeneration=I64, replicas=I32, updatedReplicas=I32, readyReplicas=I32,
    availableReplicas=I32, unavailableReplicas=I32, terminatingReplicas=I32,
    conditions=_conditions("v1.DeploymentCondition", update_time=True), collisionCount=I32,
)
REPLICASET_SPEC = struct("v1.ReplicaSetSpec", replicas=I32, minReadySeconds=I32, selector=LABEL_SELECTOR,
                         template=POD_TEMPLATE)
REPLICASET_STATUS = struct(
    "v1.ReplicaSetStatus", replicas=I32, fullyLabeledReplicas=I32, readyReplicas=I32, availableReplicas=I32,
    terminatingReplicas=I32, observedGeneration=I64, conditions=_conditions("v1.ReplicaSetCondition"),
)
DAEMONSET_SPEC = struct(
    "v1.DaemonSetSpec", selector=LABEL_SELECTOR, template=POD_TEMPLATE,
    updateStrategy=struct("v1.DaemonSetUpdateStrategy", type=S,
                          rollingUpdate=struct("v1.RollingUpdateDaemonSet", maxUnavailable=IOS, maxSurge=IOS)),
    minReadySeconds=I32, revisionHistoryLimit=I32,
)
DAEMONSET_STATUS = struct(
    "v1.DaemonSetStatus", currentNumberScheduled=I32, numberMisscheduled=I32, desiredNumberScheduled=I32,
    numberReady=I32, observedGeneration=I64, updatedNumberScheduled=I32, numberAvailable=I32,
    numberUnavailable=I32, collisionCount=I32, conditions=_conditions("v1.DaemonSetCondition"),
)

# ---- core/v1, the rest ------------------------------------------------------------------------------
NODE_SPEC = struct(
    "v1.NodeSpec", podCIDR=S, podCIDRs=STRS, providerID=S, unschedulable=B,
    taints=ListOf(struct("v1.Taint", key=S, value=S, effect=S, timeAdded=TIME)),
    configSource=obj("v1.NodeConfigSource"), externalID=S,
)
NODE_STATUS = struct(
    "v1.NodeStatus", capacity=QMAP, allocatable=QMAP, phase=S,
    conditions=_conditions("v1.NodeCondition", heartbeat=True),
    addresses=ListOf(struct("v1.NodeAddress", type=S, address=S)),
    daemonEndpoints=obj("v1.NodeDaemonEndpoints"),
    nodeInfo=struct("v1.NodeSystemInfo", machineID=S, systemUUID=S, bootID=S, kernelVersion=S, osImage=S,
                    containerRuntimeVersion=S, kubeletVersion=S, kubeProxyVersion=S, operatingSystem=S,
                    architecture=S, swap=obj("v1.NodeSwapStatus")),
    images=ListOf(struct("v1.ContainerImage", names=STRS, sizeBytes=I64)), volumesInUse=STRS,
    volumesAttached=ListOf(obj("v1.AttachedVolume")), config=obj("v1.NodeConfigStatus"),
    runtimeHandlers=ListOf(obj("v1.NodeRuntimeHandler")), features=obj("v1.NodeFeatures"),
)
SERVICE_SPEC = struct(
    "v1.ServiceSpec",
    ports=ListOf(struct("v1.ServicePort", name=S, protocol=S, appProtocol=S, port=I32, targetPort=IOS,
                        nodePort=I32)),
    selector=STRMAP, clusterIP=S, clusterIPs=STRS, type=S, externalIPs=STRS, sessionAffinity=S, loadBalancerIP=S,
    loadBalancerSourceRanges=STRS, externalName=S, externalTrafficPolicy=S, healthCheckNodePort=I32,
    publishNotReadyAddresses=B, sessionAffinityConfig=obj("v1.SessionAffinityConfig"), ipFamilies=STRS,
    ipFamilyPolicy=S, allocateLoadBalancerNodePorts=B, loadBalancerClass=S, internalTrafficPolicy=S,
    trafficDistribution=S,
)
SERVICE_STATUS = struct(
    "v1.ServiceStatus",
    loadBalancer=struct("v1.LoadBalancerStatus", ingress=ListOf(
        struct("v1.LoadBalancerIngress", ip=S, hostname=S, ipMode=S, ports=ListOf(obj("v1.PortStatus"))))),
    conditions=ListOf(obj("v1.Condition")),
)
PVC_SPEC = struct(
    "v1.PersistentVolumeClaimSpec", accessModes=STRS, selector=LABEL_SELECTOR,
    resources=struct("v1.VolumeResourceRequirements", limits=QMAP, requests=QMAP), volumeName=S,
    storageClassName=S, volumeMode=S, dataSource=obj("v1.TypedLocalObjectReference"),
    dataSourceRef=obj("v1.TypedObjectReference"), volumeAttributesClassName=S,
)
PVC_STATUS = struct(
    "v1.PersistentVolumeClaimStatus", phase=S, accessModes=STRS, capacity=QMAP,
    conditions=_conditions("v1.PersistentVolumeClaimCondition", probe_time=True), allocatedResources=QMAP,
    allocatedResourceStatuses=STRMAP, currentVolumeAttributesClassName=S,
    modifyVolumeStatus=obj("v1.ModifyVolumeStatus"),
)

# ---- autoscaling/v2 ---------------------------------------------------------------------------------
_CROSS_REF = struct("v2.CrossVersionObjectReference", kind=S, name=S, apiVersion=S)
_METRIC_TARGET = struct("v2.MetricTarget", type=S, value=Q, averageValue=Q, averageUtilization=I32)
_METRIC_VALUE = struct("v2.MetricValueStatus", value=Q, averageValue=Q, averageUtilization=I32)
_METRIC_ID = struct("v2.MetricIdentifier", name=S, selector=LABEL_SELECTOR)
_SCALING_RULES = struct("v2.HPAScalingRules", stabilizationWindowSeconds=I32, selectPolicy=S, tolerance=Q,
                        policies=ListOf(struct("v2.HPAScalingPolicy", type=S, value=I32, periodSeconds=I32)))
HPA_SPEC = struct(
    "v2.HorizontalPodAutoscalerSpec", scaleTargetRef=_CROSS_REF, minReplicas=I32, maxReplicas=I32,
    metrics=ListOf(struct(
        "v2.MetricSpec", type=S,
        object=struct("v2.ObjectMetricSource", describedObject=_CROSS_REF, target=_METRIC_TARGET, metric=_METRIC_ID),
        pods=struct("v2.PodsMetricSource", metric=_METRIC_ID, target=_METRIC_TARGET),
        resource=struct("v2.ResourceMetricSource", name=S, target=_METRIC_TARGET),
        containerResource=struct("v2.ContainerResourceMetricSource", name=S, target=_METRIC_TARGET, container=S),
        external=struct("v2.ExternalMetricSource", metric=_METRIC_ID, target=_METRIC_TARGET))),
    behavior=struct("v2.HorizontalPodAutoscalerBehavior", scaleUp=_SCALING_RULES, scaleDown=_SCALING_RULES),
)
HPA_STATUS = struct(
    "v2.HorizontalPodAutoscalerStatus", observedGeneration=I64, lastScaleTime=TIME, currentReplicas=I32,
    desiredReplicas=I32,
    currentMetrics=ListOf(struct(
        "v2.MetricStatus", type=S,
        object=struct("v2.ObjectMetricStatus", describedObject=_CROSS_REF, current=_METRIC_VALUE, metric=_METRIC_ID),
        pods=struct("v2.PodsMetricStatus", metric=_METRIC_ID, current=_METRIC_VALUE),
        resource=struct("v2.ResourceMetricStatus", name=S, current=_METRIC_VALUE),
        containerResource=struct("v2.ContainerResourceMetricStatus", name=S, current=_METRIC_VALUE, container=S),
        external=struct("v2.ExternalMetricStatus", metric=_METRIC_ID, current=_METRIC_VALUE))),
    conditions=_conditions("v2.HorizontalPodAutoscalerCondition"),
)

# ---- the Prometheus Operator's custom resources (their CRDs' OpenAPI schemas, the fields in use) ------
SERVICE_MONITOR_SPEC = struct(
    "ServiceMonitorSpec", jobLabel=S, targetLabels=STRS, podTargetLabels=STRS, selector=LABEL_SELECTOR,
    namespaceSelector=struct("NamespaceSelector", any=B, matchNames=STRS), sampleLimit=I64,
    endpoints=ListOf(struct("Endpoint", port=S, targetPort=IOS, path=S, scheme=S, interval=S, scrapeTimeout=S,
                            honorLabels=B, params=MapOf(STRS), relabelings=ListOf(obj("RelabelConfig")),
                            metricRelabelings=ListOf(obj("RelabelConfig")))),
)
PROMETHEUS_RULE_SPEC = struct("PrometheusRuleSpec", groups=ListOf(struct(
    "RuleGroup", name=S, interval=S, limit=I64, partial_response_strategy=S,
    rules=ListOf(struct("Rule", alert=S, record=S, expr=IOS, annotations=STRMAP, labels=STRMAP,
                        keep_firing_for=S, **{"for": S})))))


def _top(go: str, **fields: GoType) -> Struct:
    return Struct(go, {"apiVersion": S, "kind": S, "metadata": OBJECT_META, **fields})


# ---- policy/v1, core/v1 secrets and service accounts, autoscaling/v1, events.k8s.io/v1 ----------------
PDB_SPEC = struct("v1.PodDisruptionBudgetSpec", minAvailable=IOS, selector=LABEL_SELECTOR, maxUnavailable=IOS,
                  unhealthyPodEvictionPolicy=S)
PDB_STATUS = struct(
    "v1.PodDisruptionBudgetStatus", observedGeneration=I64, disruptedPods=MapOf(TIME), disruptionsAllowed=I32,
    currentHealthy=I32, desiredHealthy=I32, expectedPods=I32,
    conditions=ListOf(struct("v1.Condition", type=S, status=S, observedGeneration=I64, lastTransitionTime=TIME,
                             reason=S, message=S)))
_V1_CROSS_REF = struct("v1.CrossVersionObjectReference", kind=S, name=S, apiVersion=S)
HPA_V1 = _top(
    "v1.HorizontalPodAutoscaler",
    spec=struct("v1.HorizontalPodAutoscalerSpec", scaleTargetRef=_V1_CROSS_REF, minReplicas=I32, maxReplicas=I32,
                targetCPUUtilizationPercentage=I32),
    status=struct("v1.HorizontalPodAutoscalerStatus", observedGeneration=I64, lastScaleTime=TIME,
                  currentReplicas=I32, desiredReplicas=I32, currentCPUUtilizationPercentage=I32))
EVENT_V1 = _top(
    "v1.Event", eventTime=MICRO, series=struct("v1.EventSeries", count=I32, lastObservedTime=MICRO),
    reportingController=S, reportingInstance=S, action=S, reason=S, regarding=OBJECT_REF, related=OBJECT_REF,
    note=S, type=S, deprecatedSource=struct("v1.EventSource", component=S, host=S),
    deprecatedFirstTimestamp=TIME, deprecatedLastTimestamp=TIME, deprecatedCount=I32)
EVICTION = _top("v1.Eviction", deleteOptions=Struct("v1.DeleteOptions", {
    "apiVersion": S, "kind": S, "gracePeriodSeconds": I64, "orphanDependents": B, "propagationPolicy": S,
    "dryRun": STRS, "preconditions": struct("v1.Preconditions", uid=S, resourceVersion=S)}))
TOKEN_REQUEST = _top(
    "v1.TokenRequest",
    spec=struct("v1.TokenRequestSpec", audiences=STRS, expirationSeconds=I64,
                boundObjectRef=struct("v1.BoundObjectReference", kind=S, apiVersion=S, name=S, uid=S)),
    status=struct("v1.TokenRequestStatus", token=S, expirationTimestamp=TIME))
SELF_SUBJECT_REVIEW = _top("v1.SelfSubjectReview", status=obj("v1.SelfSubjectReviewStatus"))


KINDS: dict[str, Struct] = {
    "namespaces": _top("v1.Namespace", spec=struct("v1.NamespaceSpec", finalizers=STRS),
                       status=struct("v1.NamespaceStatus", phase=S,
                                     conditions=_conditions("v1.NamespaceCondition"))),
    "nodes": _top("v1.Node", spec=NODE_SPEC, status=NODE_STATUS),
    "pods": _top("v1.Pod", spec=POD_SPEC, status=POD_STATUS),
    "events": _top(
        "v1.Event", involvedObject=OBJECT_REF, reason=S, message=S,
        source=struct("v1.EventSource", component=S, host=S), firstTimestamp=TIME, lastTimestamp=TIME,
        count=I32, type=S, eventTime=MICRO, series=struct("v1.EventSeries", count=I32, lastObservedTime=MICRO),
        action=S, related=OBJECT_REF, reportingComponent=S, reportingInstance=S),
    "services": _top("v1.Service", spec=SERVICE_SPEC, status=SERVICE_STATUS),
    "persistentvolumeclaims": _top("v1.PersistentVolumeClaim", spec=PVC_SPEC, status=PVC_STATUS),
    "configmaps": _top("v1.ConfigMap", immutable=B, data=STRMAP, binaryData=MapOf(BYTES)),
    "secrets": _top("v1.Secret", immutable=B, data=MapOf(BYTES), stringData=STRMAP, type=S),
    "serviceaccounts": _top("v1.ServiceAccount", secrets=ListOf(OBJECT_REF),
                            imagePullSecrets=ListOf(struct("v1.LocalObjectReference", name=S)),
                            automountServiceAccountToken=B),
    "poddisruptionbudgets": _top("v1.PodDisruptionBudget", spec=PDB_SPEC, status=PDB_STATUS),
    "deployments": _top("v1.Deployment", spec=DEPLOYMENT_SPEC, status=DEPLOYMENT_STATUS),
    "replicasets": _top("v1.ReplicaSet", spec=REPLICASET_SPEC, status=REPLICASET_STATUS),
    "daemonsets": _top("v1.DaemonSet", spec=DAEMONSET_SPEC, status=DAEMONSET_STATUS),
    "horizontalpodautoscalers": _top("v2.HorizontalPodAutoscaler", spec=HPA_SPEC, status=HPA_STATUS),
    "servicemonitors": _top("ServiceMonitor", spec=SERVICE_MONITOR_SPEC),
    "prometheusrules": _top("PrometheusRule", spec=PROMETHEUS_RULE_SPEC),
}
SCALE = _top("v1.Scale", spec=struct("v1.ScaleSpec", replicas=I32),
             status=struct("v1.ScaleStatus", replicas=I32, selector=S))
DELETE_OPTIONS = Struct("v1.DeleteOptions", {
    "apiVersion": S, "kind": S, "gracePeriodSeconds": I64, "orphanDependents": B, "propagationPolicy": S,
    "dryRun": STRS, "ignoreStoreReadErrorWithClusterBreakingPotential": B,
    "preconditions": struct("v1.Preconditions", uid=S, resourceVersion=S)})
ACCESS_REVIEW = _top("v1.SelfSubjectAccessReview", spec=struct(
    "v1.SelfSubjectAccessReviewSpec",
    resourceAttributes=struct("v1.ResourceAttributes", namespace=S, verb=S, group=S, version=S, resource=S,
                              subresource=S, name=S, fieldSelector=obj("v1.FieldSelectorAttributes"),
                              labelSelector=obj("v1.LabelSelectorAttributes")),
    nonResourceAttributes=struct("v1.NonResourceAttributes", path=S, verb=S)))
RULES_REVIEW = _top("v1.SelfSubjectRulesReview", spec=struct("v1.SelfSubjectRulesReviewSpec", namespace=S))
OPENAPI_KINDS = frozenset({"servicemonitors", "prometheusrules"})  # custom resources: OpenAPI-checked


# ---- decoding: the walk over a body --------------------------------------------------------------
class _Decoder:
    def __init__(self, openapi: bool) -> None:
        self.openapi = openapi

    def fail(self, t: GoType, value: Any, fields: tuple[str, ...], owner: str, where: str,
             literal: bool = False, message: str | None = None) -> TypeMismatch:
        shown = json_type(value) + (f" {value!r}" if literal and not isinstance(value, bool) else "")
        text = message or (f"json: cannot unmarshal {shown} into Go struct field {owner}.{'.'.join(fields)} "
                           f"of type {t.go}" if fields else f"json: cannot unmarshal {shown} into Go value of type "
                           f"{t.go}")
        expected = t.openapi or "object"
        return TypeMismatch(text, openapi_path=where, expected=expected, actual=openapi_type(value))

    def value(self, t: GoType, v: Any, fields: tuple[str, ...], owner: str, where: str) -> Any:
        if v is None:
            return None
        if isinstance(t, Struct):
            if not isinstance(v, dict):
                raise self.fail(t, v, fields, owner, where)
            out = {}
            for key, item in v.items():
                if item is None:
                    continue  # decoded into the zero value, which omitempty leaves out
                sub = t.fields.get(key)
                path = f"{where}.{key}" if where else key
                out[key] = self.value(sub, item, (*fields, key), t.short, path) if sub is not None else item
            return out
        if isinstance(t, ListOf):
            if not isinstance(v, list):
                raise self.fail(t, v, fields, owner, where)
            zero = getattr(t.item, "zero", lambda: None)()
            return [zero if item is None else self.value(t.item, item, fields, owner, f"{where}[{i}]")
                    for i, item in enumerate(v)]
        if isinstance(t, MapOf):
            if not isinstance(v, dict):
                raise self.fail(t, v, fields, owner, where)
            zero = getattr(t.value, "zero", lambda: None)()
            return {k: zero if item is None else self.value(t.value, item, fields, owner, f"{where}.{k}")
                    for k, item in v.items()}
        if isinstance(t, Scalar):
            ok = isinstance(v, str) if t.openapi == "string" else isinstance(v, bool)
            if not ok:
                raise self.fail(t, v, fields, owner, where)
            return v
        if isinstance(t, Int):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise self.fail(t, v, fields, owner, where)
            lo, hi = t.bounds
            if isinstance(v, float) or not lo <= v <= hi:
                if self.openapi and isinstance(v, float) and v.is_integer() and lo <= v <= hi:
                    return int(v)
                raise self.fail(t, v, fields, owner, where, literal=True)
            return v
        if isinstance(t, Special):
            return self.special(t, v, fields, owner, where)
        if isinstance(t, Raw) and t.object and not isinstance(v, dict):
            raise self.fail(t, v, fields, owner, where)
        return prune_nulls(v)

    def special(self, t: Special, v: Any, fields: tuple[str, ...], owner: str, where: str) -> Any:
        if t.what == "intorstr":
            if isinstance(v, str):
                return v
            if isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31:
                return v
            if self.openapi and isinstance(v, float) and v.is_integer():
                return int(v)
            raise self.fail(t, v, fields, owner, where, literal=isinstance(v, int | float))
        if t.what == "quantity":
            if isinstance(v, bool | dict | list):
                raise self.fail(t, v, fields, owner, where)
            text = v if isinstance(v, str) else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
            if not QUANTITY_RE.match(text):
                raise self.fail(t, v, fields, owner, where, message=QUANTITY_MSG)
            return text
        if t.what == "bytes":
            if not isinstance(v, str):
                raise self.fail(t, v, fields, owner, where)
            try:
                base64.b64decode(v, validate=True)
            except (binascii.Error, ValueError):
                raise self.fail(t, v, fields, owner, where, message="illegal base64 data at input byte 0") from None
            return v
        # times
        if not isinstance(v, str):
            raise self.fail(t, v, fields, owner, where, message=f"json: cannot unmarshal {json_type(v)} into Go "
                                                                  "value of type string")
        try:
            return parse_time(v, micro=t.what == "microtime")
        except (ValueError, OverflowError):
            layout = "2006-01-02T15:04:05.000000Z07:00" if t.what == "microtime" else "2006-01-02T15:04:05Z07:00"
            raise self.fail(t, v, fields, owner, where,
                            message=f'parsing time "{v[:64]}" as "{layout}": cannot parse "{v[:64]}" as '
                                    '"2006"') from None


def prune_nulls(value: Any) -> Any:
    """Drop null fields, as decoding into typed Go structs does (a JSON-patched ``null`` is not stored)."""
    if isinstance(value, dict):
        return {k: prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune_nulls(v) for v in value]
    return value


def decode(t: Struct, body: dict[str, Any], *, openapi: bool = False) -> dict[str, Any]:
    """``body`` typed as ``t`` (a top-level kind); raises :class:`TypeMismatch` on the first misfit."""
    return _Decoder(openapi).value(t, body, (), t.short, "")  # type: ignore[no-any-return]
