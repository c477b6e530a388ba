# Kernel side of insitu-observer: the CO-RE object and its skeleton.
$(BUILD)/bpf/observer.bpf.o: bpf/observer.bpf.c bpf/observer.h bpf/extract.bpf.h vmlinux/vmlinux.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/observer.skel.h: $(BUILD)/bpf/observer.bpf.o
	$(BPFTOOL) gen skeleton $< name observer_bpf > $@.tmp && mv $@.tmp $@
