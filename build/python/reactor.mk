# reactor.mk: links python.wasm as a WASI reactor with wasipy's entry
# points (wasipy_entry.c), from the objects of CPython's own build. Used by
# build.sh as `make -f Makefile -f reactor.mk python-reactor.wasm
# WASIPY_ENTRY=...`, so compiler, flags and the object list are CPython's
# own (its Makefile's variables), and only the entry and the exec model
# differ from its python.wasm.

Programs/wasipy_entry.o: $(WASIPY_ENTRY)
	$(CC) -c $(PY_STDMODULE_CFLAGS) -o $@ $(WASIPY_ENTRY)

python-reactor.wasm: Programs/wasipy_entry.o Programs/python.o $(LINK_PYTHON_DEPS)
	$(LINKCC) $(PY_CORE_LDFLAGS) $(LINKFORSHARED) -mexec-model=reactor -o $@ \
		Programs/wasipy_entry.o Programs/python.o $(LINK_PYTHON_OBJS) $(LIBS) $(MODLIBS) $(SYSLIBS)
