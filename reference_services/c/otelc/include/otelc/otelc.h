/* otelc/otelc.h - umbrella header: includes every otelc module header. */
#ifndef OTELC_OTELC_H
#define OTELC_OTELC_H
#include "otelc/common.h"
#include "otelc/attributes.h"
#include "otelc/propagation.h"
#include "otelc/sdk.h"
#include "otelc/trace.h"
#include "otelc/metrics.h"
#include "otelc/process.h"
#include "otelc/logs.h"
#include "otelc/rpc.h"
#endif
