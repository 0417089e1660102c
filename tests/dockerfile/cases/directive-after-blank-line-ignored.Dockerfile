
# escape=`
FROM scratch
