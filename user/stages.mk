# The observer's later stages (user/observer_stages.c): semantics -> linker ->
# health -> reporter, linked into insitu-observer.  Named to sort after the
# fragments whose objects it names (health, linker, observer, semantics).
OBSERVER_STAGE_OBJS := $(BUILD)/obj/user/observer_stages.o $(HEALTH_STAGE_OBJS) $(HEALTH_OBJS) \
	$(LINKER_STAGE_OBJS) $(LINKER_OBJS) $(SEMANTICS_OBJS) $(XK_INSTALL_OBJS)
$(BUILD)/obj/user/observer_stages.o: CFLAGS += -Iuser
$(BUILD)/insitu-observer: $(OBSERVER_STAGE_OBJS)
# Libraries come after the objects on the link line; the common library again, for
# what only these objects use.
OBSERVER_LIBS += $(COMMON_LIB) $(SEMANTICS_LIBS) -lcjson -lm
