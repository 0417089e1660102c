FROM scratch
ADD --checksum=sha256:aaaa a b
