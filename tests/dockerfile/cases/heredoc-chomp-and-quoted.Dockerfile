FROM scratch
COPY <<-"EOT" /a
	line $X
		EOT2
	EOT
ARG X=1
COPY <<-EOT /b
	line $X
	EOT
