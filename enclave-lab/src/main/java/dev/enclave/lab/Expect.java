package dev.enclave.lab;

/** What an attempt did: the seed guide's words for its checks, "should WORK" and "should FAIL". */
public enum Expect {
    WORKS, FAIL
}
