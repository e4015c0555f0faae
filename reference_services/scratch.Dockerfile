# A dynamically linked reference service with nothing but what it loads: scratch_image.sh puts
# the binary at rootfs/service and each shared library ldd resolves for it at its own path.
FROM scratch
COPY rootfs/ /
CMD ["/service"]
