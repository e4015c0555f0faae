package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// tlsServerOption serves TLS when the target contract's CONFORMANCE_TLS_CERT and
// CONFORMANCE_TLS_KEY name PEM files, and requires client certificates signed by
// CONFORMANCE_TLS_CLIENT_CA when that is set too (mTLS). No option: plaintext.
func tlsServerOption() (grpc.ServerOption, error) {
	certFile, keyFile := os.Getenv("CONFORMANCE_TLS_CERT"), os.Getenv("CONFORMANCE_TLS_KEY")
	if certFile == "" || keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("CONFORMANCE_TLS_CERT/KEY: %w", err)
	}
	config := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if caFile := os.Getenv("CONFORMANCE_TLS_CLIENT_CA"); caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CONFORMANCE_TLS_CLIENT_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CONFORMANCE_TLS_CLIENT_CA: no PEM certificate in %s", caFile)
		}
		config.ClientCAs, config.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return grpc.Creds(credentials.NewTLS(config)), nil
}
