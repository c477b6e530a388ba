# common/: the small library every insitu program links (libinsitu-common.a).
COMMON_SRCS += common/log.c common/fileutil.c
