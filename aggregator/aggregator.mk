# aggregator/: insitud (store, inference, persistence, socket API, peers) and the
# insitu CLI.  The report format and the insitud client live in common/ because the
# observer and logtail submit reports too; they need -lcjson when they link.
COMMON_SRCS += common/report.c common/insitud_client.c
